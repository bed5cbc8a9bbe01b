"""HyperSpy signal classes of hyperspy_localcryst."""
