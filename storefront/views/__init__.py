"""The storefront's blueprints."""
