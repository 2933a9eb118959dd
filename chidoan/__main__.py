"""`python -m chidoan …` is the `chidoan` command."""

from chidoan.bot.cli import main

raise SystemExit(main())
