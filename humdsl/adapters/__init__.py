"""Dataset adapters: public formats read into humdsl's canonical records."""
