"""``python -m bench``: the /health benchmark (see ``bench/README.md``)."""

from bench.run import main

raise SystemExit(main())
