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
  const CHECK_CARD = "Please check your card number, expiry date and CVC.";

  function show(text) {
    message.textContent = text || "";
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }

  // Stripe writes card_error and validation_error messages for shoppers; the rest (localstripe's
  // "Bad request", invalid_request_error) are for developers.
  function shopperMessage(error, fallback) {
    const forShoppers = error && (error.type === "card_error" || error.type === "validation_error");
    return (forShoppers && error.message) || fallback;
  }

  // Stripe.js drops the spaces and dashes people type in a card number; localstripe's stand-in
  // element (the only one with a readable value) sends them as typed, and its API refuses them.
  function tidyTypedCard() {
    const typed = card.value && card.value.card;
    if (!typed) return;
    typed.number = String(typed.number || "").replace(/[\s-]/g, "");
    for (const field of ["exp_month", "exp_year", "cvc"]) {
      typed[field] = String(typed[field] || "").replace(/\s/g, "");
    }
    card.value.postal_code = String(card.value.postal_code || "").trim();
  }

  async function cardReference() {
    // Stripe: a PaymentMethod (pm_...). localstripe's createPaymentMethod is a stub: use a token's card.
    tidyTypedCard();
    const created = await stripe.createPaymentMethod({ type: "card", card: card });
    if (created && created.paymentMethod) return { id: created.paymentMethod.id };
    if (created && created.error) return { error: created.error };
    try {
      const result = await stripe.createToken(card);
      if (result && result.token && result.token.card) return { id: result.token.card.id };
      return { error: result && result.error };
    } catch (err) {
      return { error: null }; // localstripe's createToken throws on a card nobody typed in
    }
  }

  async function pay() {
    const ref = await cardReference();
    if (!ref.id) {
      show(shopperMessage(ref.error, CHECK_CARD));
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
    showOrderNumber(body.order_number);
    if (body.status === "succeeded") {
      window.location.assign(body.redirect);
    } else if (body.status === "requires_action") {
      await authenticate(body);
    } else {
      show(body.error || "The payment did not go through. Please try another card.");
    }
  }

  // The heading names the order this card is charged for, after every attempt.
  function showOrderNumber(number) {
    const heading = document.getElementById("payment-heading");
    if (heading && number) heading.textContent = "Pay for order " + number;
  }

  // 3-D Secure did not complete: the shop asks Stripe how the payment stands (it does not take
  // the browser's word) and records the failure, so the next attempt pays the same order.
  async function check(url) {
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "Accept": "application/json", "X-CSRFToken": csrf },
        credentials: "same-origin",
      });
      return await response.json();
    } catch (err) {
      return {};
    }
  }

  async function authenticate(body) {
    const auth = await stripe.confirmCardPayment(body.client_secret);
    const failed = auth.error || (auth.paymentIntent && auth.paymentIntent.status !== "succeeded");
    if (!failed) {
      window.location.assign(body.redirect);
      return;
    }
    const checked = body.check ? await check(body.check) : {};
    if (checked.status === "succeeded") {
      window.location.assign(checked.redirect || body.redirect);
      return;
    }
    showOrderNumber(checked.order_number);
    show(checked.error || shopperMessage(auth.error,
      "Card authentication failed. Please try again or use another card."));
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    show("");
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    // Whatever goes wrong, the shopper gets a message and a Pay button that works again.
    pay().catch(function () {
      show("Something went wrong. Please check your card details and try again.");
    });
  });
})();
