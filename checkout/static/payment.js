// Card payment: Stripe.js turns the card into a reference; only that reference reaches our server.
(function () {
  "use strict";
  const form = document.getElementById("payment-form");
  if (!form) return;
  const message = document.getElementById("payment-message");
  const button = document.getElementById("pay-button");
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const stripe = Stripe(form.dataset.publishableKey);
  const card = stripe.elements().create("card");
  card.mount("#card-element");

  function show(text) {
    message.textContent = text || "";
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }

  async function cardReference() {
    // Stripe: a PaymentMethod (pm_...). localstripe's createPaymentMethod is a stub: use a token's card.
    const created = await stripe.createPaymentMethod({ type: "card", card: card });
    if (created && created.paymentMethod) return { id: created.paymentMethod.id };
    if (created && created.error) return { error: created.error };
    const result = await stripe.createToken(card);
    if (result.error) return { error: result.error };
    return { id: result.token.card.id };
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    show("");
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    const ref = await cardReference();
    if (ref.error) {
      show((ref.error && ref.error.message) || "Please check your card details.");
      return;
    }
    let response, body;
    try {
      response = await fetch(form.dataset.payUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf },
        body: JSON.stringify({ card_ref: ref.id }),
        credentials: "same-origin",
      });
      body = await response.json();
    } catch (err) {
      show("We could not reach the shop. Please try again: a payment is never taken twice.");
      return;
    }
    if (body.status === "succeeded") {
      window.location.assign(body.redirect);
    } else if (body.status === "requires_action") {
      const auth = await stripe.confirmCardPayment(body.client_secret);
      if (auth.error) {
        show(auth.error.message || "Card authentication failed. Please try another card.");
        return;
      }
      if (auth.paymentIntent && auth.paymentIntent.status !== "succeeded") {
        show("Card authentication failed. Please try again or use another card.");
        return;
      }
      window.location.assign(body.redirect);
    } else {
      show(body.error || "The payment did not go through. Please try another card.");
    }
  });
})();
