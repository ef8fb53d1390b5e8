"""The bulk runner (`llm.map_sync` / `await llm.map`): `runner` runs the items, `checkpoint`
keeps each finished one in SQLite, `stored` turns a result into a row and back, `progress`
draws the bar."""
