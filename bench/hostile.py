"""Every input of the hostile-input corpus (tests/hostile/corpus.json) through the real web channel
at every kind of step: a stranger, a secretary with nothing open, and a meeting report at its
date, choice, text and number steps (the same checks as tests/test_hostile.py, which sends a
sample). SQLite in a temporary folder; the app runs in this process.

    .venv/bin/python bench/hostile.py [--contexts idle,number] [--class forged_payloads] [--light]

It ends with `inputs sent: <n>; exceptions: 0; ...; seconds: <s>` and exits 1 if anything failed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chidoan.bot.app import App  # noqa: E402
from chidoan.storage.db import make_db, upgrade  # noqa: E402
from tests.conftest import make_settings, seed_org  # noqa: E402
from tests.hostile.drive import CONTEXTS, load_corpus, prepare, run  # noqa: E402


async def main(args: argparse.Namespace) -> int:
    corpus = load_corpus()
    if args.classes:
        corpus = [e for e in corpus if e["class"] in args.classes.split(",")]
    if args.light:
        corpus = [e for e in corpus if not e.get("heavy")]
    contexts = tuple(args.contexts.split(",")) if args.contexts else CONTEXTS
    with tempfile.TemporaryDirectory() as folder:
        settings = make_settings(f"sqlite:///{folder}/hostile.sqlite3")
        db = make_db(settings.database_url)
        upgrade(db)
        seed_org(db)
        ids = prepare(db)
        app = App(settings)
        await app.start()
        try:
            print(f"{len(corpus)} inputs x {len(contexts)} contexts ({', '.join(contexts)})", flush=True)
            tally = await run(
                app,
                db,
                ids,
                corpus,
                contexts,
                progress=lambda context, t: print(f"  {context}: {t.sent} sent so far", flush=True),
            )
        finally:
            await app.stop()
            db.dispose()
    for problem in tally.problems[:50]:
        print("  problem:", problem)
    print(tally.line())
    failed = tally.exceptions or tally.apologies or tally.dropped or tally.problems
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contexts", help=f"comma-separated, of {', '.join(CONTEXTS)}")
    parser.add_argument("--class", dest="classes", help="only these classes (comma-separated)")
    parser.add_argument("--light", action="store_true", help="leave out the heavy (megabyte) inputs")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    raise SystemExit(asyncio.run(main(parser.parse_args())))
