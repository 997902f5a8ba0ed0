"""``python -m airflow_argo_provider.cli``."""

import sys

from airflow_argo_provider.cli.main import main

sys.exit(main())
