"""chidoan: a chat bot for Youth Union branch secretaries and district staff."""

__version__ = "0.1.0"
