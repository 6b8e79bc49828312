"""Checkout steps, orders, Stripe payments and webhook, delivery."""
