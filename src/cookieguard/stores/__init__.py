"""Session stores: one Protocol (`base.SessionStore`), one module per backend."""
