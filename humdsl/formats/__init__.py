"""Format variants: one declaration, from which render, parse and grammar are derived."""
