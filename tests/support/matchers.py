"""A stand-in for an llguidance matcher that takes, or refuses, every token it is given."""


class Consenting:
    def __init__(self, ok: bool):
        self.ok = ok

    def consume_tokens(self, tokens):
        return self.ok

    def is_error(self):
        return False

    def get_error(self):
        return ""
