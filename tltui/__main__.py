from tltui.cli import main

raise SystemExit(main())
