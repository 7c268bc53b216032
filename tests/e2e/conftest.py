from tests.fixtures_live import *  # noqa: F401,F403  (live_stack)
