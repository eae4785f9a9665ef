"""Streaming speech recognition with a stateful LSTM-CTC acoustic model."""
