"""The reference storefront: catalog, search, cart, accounts, reviews."""
