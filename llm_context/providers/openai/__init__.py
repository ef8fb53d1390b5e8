"""The OpenAI family: the Responses API (OpenAI), Chat Completions (OpenRouter, LM
Studio, Ollama, classic Azure), Azure's two surfaces, and the SDK client they share."""
