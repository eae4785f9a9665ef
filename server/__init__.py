"""The websocket daemon (``asr serve``). Imports ``asr``; ``asr`` never imports it."""
