"""govproxy: a policy-as-code governance proxy for outbound LLM traffic."""

__version__ = "0.1.0"
