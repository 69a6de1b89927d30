from tests.policy.helpers import shipped_decider  # noqa: F401  (fixture)
