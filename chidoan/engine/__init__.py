"""The conversation engine: platform-free journeys defined as data, run over a unit of work."""
