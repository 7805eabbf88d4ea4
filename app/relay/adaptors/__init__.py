"""Provider adaptors: pure translation between OpenAI requests and each upstream (see base.py)."""
