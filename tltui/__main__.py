from tltui.cli.main import main

raise SystemExit(main())
