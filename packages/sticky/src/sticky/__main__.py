"""``python -m sticky``: the same as the ``sticky`` command."""

from sticky.cli import main

raise SystemExit(main())
