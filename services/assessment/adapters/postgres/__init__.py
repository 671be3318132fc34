from pathlib import Path

# Every table of the assessment service, in one Alembic branch.
MIGRATIONS = Path(__file__).parent / "migrations"
