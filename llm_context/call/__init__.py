"""One call's flow: the validated plan (`plan`), the step generator and its two
drivers (`steps`), the flows per operation (`flows`), retries and fallbacks."""
