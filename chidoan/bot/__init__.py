"""The running service: configuration, wiring, channels, sender, command line."""
