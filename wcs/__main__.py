from wcs.cli import main

raise SystemExit(main())
