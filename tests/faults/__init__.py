"""Fault injection, loopback only: a TCP proxy the test can cut (proxy.py), `chidoan run` in a child
process that can be killed with SIGKILL and started again (worker.py), the fake Bot API's fault
modes (botapi.py), and the platform's side of a webhook: deliver until acknowledged (platform.py)."""
