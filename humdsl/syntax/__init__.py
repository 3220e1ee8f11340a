"""Front end: .hum text -> Lark parse tree -> AST (frozen dataclasses with spans)."""
