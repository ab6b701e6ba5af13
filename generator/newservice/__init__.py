"""newservice: the platform's golden-path service generator (create and update over copier)."""
