"""Simulated shoppers: real HTTP against a running store, the way browsers drive it.

Each shopper has a persona, a device and a traffic source; it lands, searches, browses,
adds to the cart, goes through the checkout and pays with a card reference obtained from
Stripe's API with the publishable key (what Stripe.js does), completing 3-D Secure where
asked. Drop-off probabilities default to ../shared/JOURNEY_FACTS.md: about 70% of carts
are abandoned and about 2% of visits buy. Some cards are declined; some shoppers come back
later and finish an abandoned cart; a courier moves paid orders through delivery with the
admin API; some buyers then review. The simulator keeps its own ground truth of what the
shoppers did, by the tracker's definitions, to check the panel and Prometheus against.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, field

import requests

STAGES = ("landing", "browse", "cart", "checkout", "payment", "purchase", "shipped",
          "delivered", "reviewed")
CARD_OK, CARD_DECLINED, CARD_3DS = "4242424242424242", "4000000000000341", "4000002500003155"
DESKTOP_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/126.0 Safari/537.36 TouchpointSimulator")
MOBILE_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
             "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1 TouchpointSimulator")
SEARCH_WORDS = ("coffee", "mug", "kettle", "knife", "lamp", "headphones", "tent", "yoga",
                "book", "puzzle", "desk", "skillet", "bottle", "speaker", "grinder")
SOURCES = (  # (weight, query string, referrer)
    (0.30, "", None),
    (0.25, "?utm_source=google&utm_medium=cpc&utm_campaign=brand", None),
    (0.15, "?utm_source=newsletter&utm_medium=email&utm_campaign=weekly", None),
    (0.15, "?utm_source=facebook&utm_medium=social&utm_campaign=spring", None),
    (0.15, "", "https://www.reddit.com/r/BuyItForLife/"),
)

# What simulated buyers write: the words match the stars (a 1-star review is no praise),
# a few ways each, and none is a seeded review's (storefront/catalog_data.py) word for word.
REVIEWS: dict[int, tuple[tuple[str, str], ...]] = {
    5: (("Love it", "Even better than the pictures, and it arrived a day early."),
        ("Excellent", "Sturdy, well finished and a pleasure to use every day."),
        ("Just right", "Exactly what I was looking for. No complaints at all."),
        ("Top marks", "Great quality for the money; I would happily buy it again.")),
    4: (("Very pleased", "Does everything I wanted; the packaging could use less plastic."),
        ("Good buy", "Nicely made and works well, though it is a little smaller than I thought."),
        ("Works great", "Reliable so far. One star off for the slightly fiddly setup."),
        ("Recommended", "Solid and good-looking; delivery took a day longer than promised.")),
    3: (("Does the job", "Works as it should, but nothing about it stands out."),
        ("It's okay", "Fine for everyday use; the finish is rougher than I expected."),
        ("Average", "Some good points, some bad. Probably fair for the price."),
        ("Middling", "Works, but I had to read the instructions twice to get it going.")),
    2: (("Disappointing", "It works, just about, but it feels cheaper than the price suggests."),
        ("Not great", "One part came loose in the first week. Customer service was helpful."),
        ("Expected more", "Smaller and flimsier than the photos made it look."),
        ("Meh", "Usable, but I would not buy it again.")),
    1: (("Broke quickly", "Stopped working after a few days of normal use."),
        ("Not as pictured", "Arrived scratched and looks nothing like the product photos."),
        ("Sending it back", "Poorly made; it did not do what the description promised."),
        ("Avoid", "Cheap materials and a wobbly build. Very disappointed.")),
}
# The spread of stars that online reviews have (J-shaped: most 5 and 4, a few 1).
RATING_WEIGHTS = {5: 50, 4: 30, 3: 10, 2: 5, 1: 5}
FIRST_NAMES = ("Alex", "Bea", "Chidi", "Dana", "Emil", "Fatima", "Grace", "Hugo", "Ines",
               "Jonas", "Kavya", "Liam", "Maya", "Noor", "Oscar", "Paula", "Ravi", "Selin",
               "Theo", "Ursula", "Vera", "Will", "Yara", "Zane")
LAST_NAMES = ("Ahmed", "Brown", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hughes",
              "Ito", "Jensen", "Kowalski", "Lopez", "Müller", "Nguyen", "Okafor", "Patel")


def shopper_name(rng: random.Random) -> str:
    """A buyer's name for the address (the review shows its first word)."""
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def review_for(rng: random.Random, words: random.Random) -> tuple[int, str, str]:
    """Stars (drawn from ``rng``, as always) and a title and text that match them (from
    ``words``: a seeded run's shoppers do what they did before)."""
    rating = rng.choices(list(RATING_WEIGHTS), list(RATING_WEIGHTS.values()))[0]
    title, body = words.choice(REVIEWS[rating])
    return rating, title, body


@dataclass(frozen=True)
class Persona:
    name: str
    weight: float
    bounce: float  # leaves after the landing page
    views: tuple[int, int]  # product pages looked at
    search: float  # starts by searching
    add: float  # browse -> cart
    checkout: float  # cart -> checkout
    pay: float  # checkout -> payment
    returns: float  # comes back later to finish an abandoned cart
    sort: str = "relevance"
    account: bool = False


PERSONAS = (
    Persona("bargain_hunter", 0.30, 0.40, (2, 5), 0.8, 0.10, 0.50, 0.60, 0.15, "price_asc"),
    Persona("researcher", 0.30, 0.30, (4, 8), 0.6, 0.10, 0.50, 0.60, 0.20, "rating"),
    Persona("impulse_buyer", 0.25, 0.45, (1, 2), 0.3, 0.16, 0.55, 0.70, 0.05),
    Persona("returning_customer", 0.15, 0.25, (1, 3), 0.5, 0.16, 0.60, 0.70, 0.25,
            account=True),
)


@dataclass
class SimulationConfig:
    base_url: str
    shoppers: int = 100
    concurrency: int = 4
    seed: int | None = None
    think: tuple[float, float] = (0.0, 0.05)  # seconds between a shopper's clicks
    return_after: float = 0.0  # seconds before a returning shopper comes back (0: never)
    decline_rate: float = 0.10
    three_ds_rate: float = 0.15
    review_rate: float = 0.40
    return_rate: float = 0.10  # delivered buyers who send a line back
    refund_rate: float = 0.80  # returns the shop refunds (the rest it declines)
    admin_email: str | None = None
    admin_password: str | None = None
    timeout: float = 20.0
    personas: tuple[Persona, ...] = PERSONAS  # who shops (tests add keener buyers)
    duration: float | None = None  # seconds: keep `concurrency` shoppers going until then
    on_response: Callable[[requests.Response], None] | None = None  # every HTTP answer


@dataclass
class JourneyTruth:
    furthest: int = -1  # index into STAGES
    purchased: bool = False
    revenue: int = 0
    order_id: int | None = None
    order_url: str | None = None
    returned: str | None = None  # the return's outcome: requested, refunded, declined
    refunded: int = 0  # minor units refunded
    restocked: bool = False  # the refunded item went back in stock

    def reach(self, stage: str) -> None:
        self.furthest = max(self.furthest, STAGES.index(stage))


@dataclass
class ShopperResult:
    persona: str
    device: str
    journeys: list[JourneyTruth] = field(default_factory=list)
    declined: int = 0
    errors: list[str] = field(default_factory=list)


class ShopperError(RuntimeError):
    pass


class Browser:
    """A cookie jar and the CSRF token of the last page, like a browser tab."""

    def __init__(self, base: str, user_agent: str, timeout: float):
        self.base = base.rstrip("/")
        self.http = requests.Session()
        self.http.headers.update({"User-Agent": user_agent,
                                  "Accept": "text/html,application/xhtml+xml"})
        self.timeout = timeout
        self.csrf: str | None = None
        self.last_html = ""

    def get(self, path: str, *, referrer: str | None = None, expect=(200,)) -> str:
        headers = {"Referer": referrer} if referrer else {}
        r = self.http.get(self.base + path, headers=headers, timeout=self.timeout)
        if r.status_code not in expect:
            raise ShopperError(f"GET {path}: {r.status_code}")
        self._remember(r.text)
        return r.text

    def post(self, path: str, data: dict, *, expect=(302,)) -> requests.Response:
        r = self.http.post(self.base + path, data={**data, "csrf_token": self.csrf},
                           timeout=self.timeout, allow_redirects=False)
        if r.status_code not in expect:
            raise ShopperError(f"POST {path}: {r.status_code}")
        return r

    def post_json(self, path: str, body: dict) -> requests.Response:
        return self.http.post(self.base + path, json=body, timeout=self.timeout,
                              headers={"X-CSRFToken": self.csrf or "",
                                       "Accept": "application/json"})

    def _remember(self, html: str) -> None:
        self.last_html = html
        match = re.search(r'name="csrf-token" content="([^"]+)"', html)
        if match:
            self.csrf = match.group(1)


def _links(html: str, prefix: str) -> list[str]:
    return list(dict.fromkeys(re.findall(rf'href="({re.escape(prefix)}[^"?#]+)"', html)))


class Simulation:
    def __init__(self, config: SimulationConfig):
        self.config = config
        self.rng = random.Random(config.seed)
        self._lock = threading.Lock()
        self.results: list[ShopperResult] = []
        self.courier_errors: list[str] = []
        self._courier_session: Browser | None = None  # signed in once, kept
        self._courier_refused = False
        self._courier_lock = threading.Lock()

    # -- one shopper ---------------------------------------------------------------------
    def shop(self, n: int, rng: random.Random) -> ShopperResult:
        personas = self.config.personas
        persona = rng.choices(personas, [p.weight for p in personas])[0]
        mobile = rng.random() < 0.5
        result = ShopperResult(persona.name, "mobile" if mobile else "desktop")
        browser = Browser(self.config.base_url, MOBILE_UA if mobile else DESKTOP_UA,
                          self.config.timeout)
        if self.config.on_response is not None:
            hook = self.config.on_response
            browser.http.hooks["response"].append(lambda r, *args, **kwargs: hook(r))
        try:
            self._first_visit(browser, persona, rng, result, n)
        except (ShopperError, requests.RequestException) as exc:
            result.errors.append(f"shopper {n}: {exc}")
        return result

    def _pause(self, rng: random.Random) -> None:
        low, high = self.config.think
        if high > 0:
            time.sleep(rng.uniform(low, high))

    def _first_visit(self, b: Browser, persona: Persona, rng: random.Random,
                     result: ShopperResult, n: int) -> None:
        journey = JourneyTruth()
        result.journeys.append(journey)
        weights = [s[0] for s in SOURCES]
        _, query, referrer = rng.choices(SOURCES, weights)[0]
        home = b.get("/" + query, referrer=referrer)
        journey.reach("landing")
        if rng.random() < persona.bounce:
            return
        self._pause(rng)
        if persona.account:
            email = f"shopper{n}.{rng.randrange(10**9)}@sim.example"
            b.get("/account/signup")
            b.post("/account/signup", {"name": f"Shopper {n}", "email": email,
                                        "password": "simulated-password"})
        products = self._browse(b, persona, rng, home, journey)
        if not products or rng.random() >= persona.add:
            return
        added = self._add_to_cart(b, rng, products, journey)
        if not added:
            return
        if rng.random() < persona.checkout and self._checkout(b, rng, journey, persona, result):
            return
        if self.config.return_after > 0 and rng.random() < persona.returns:
            time.sleep(self.config.return_after)  # long enough for the cart to be abandoned
            comeback = JourneyTruth()
            result.journeys.append(comeback)
            b.get("/cart/")
            comeback.reach("cart")
            self._checkout(b, rng, comeback, persona, result, always=True)

    def _browse(self, b: Browser, persona: Persona, rng: random.Random, home: str,
                journey: JourneyTruth) -> list[str]:
        seen: list[str] = []
        if rng.random() < persona.search:
            word = rng.choice(SEARCH_WORDS)
            html = b.get(f"/search?q={word}&sort={persona.sort}")
            journey.reach("browse")
            seen = _links(html, "/p/")
        if not seen:
            categories = _links(home, "/c/")
            if categories:
                html = b.get(rng.choice(categories) + f"?sort={persona.sort}")
                journey.reach("browse")
                seen = _links(html, "/p/")
        if not seen:
            seen = _links(home, "/p/")
        viewed = []
        for _ in range(rng.randint(*persona.views)):
            if not seen:
                break
            path = rng.choice(seen[:8])
            self._pause(rng)
            html = b.get(path)
            journey.reach("browse")
            if 'name="product_id"' in html:  # in stock: can be added
                viewed.append(path)
            seen = _links(html, "/p/") or seen
        return viewed

    def _add_to_cart(self, b: Browser, rng: random.Random, products: list[str],
                     journey: JourneyTruth) -> bool:
        for path in rng.sample(products, k=min(len(products), rng.choice((1, 1, 2)))):
            html = b.get(path)
            match = re.search(r'name="product_id" value="(\d+)"', html)
            if not match:
                continue
            self._pause(rng)
            response = b.post("/cart/add", {"product_id": match.group(1), "quantity": 1},
                              expect=(302, 409))
            if response.status_code == 302:
                journey.reach("cart")
        if journey.furthest < STAGES.index("cart"):
            return False
        b.get("/cart/")
        return True

    def _checkout(self, b: Browser, rng: random.Random, journey: JourneyTruth,
                  persona: Persona, result: ShopperResult, always: bool = False) -> bool:
        """True when the journey ended in a purchase."""
        start = b.http.get(b.base + "/checkout/", timeout=b.timeout, allow_redirects=False)
        if start.status_code != 302 or not start.headers["Location"].endswith("/address"):
            return False  # e.g. the cart emptied (sold out)
        journey.reach("checkout")
        b.get("/checkout/address")
        buyer = rng.randrange(10**9)  # the name follows from it: the seeded sequence is kept
        address = {"email": f"buyer{buyer}@sim.example", "name": shopper_name(random.Random(buyer)),
                   "line1": f"{rng.randint(1, 999)} Market Street", "line2": "",
                   "city": "Springfield", "postcode": f"{rng.randint(10000, 99999)}",
                   "country": "US"}
        self._pause(rng)
        b.post("/checkout/address", address)
        if not always and rng.random() > 0.85:
            return False  # left at the address step
        b.get("/checkout/shipping")
        self._pause(rng)
        b.post("/checkout/shipping", {"method": rng.choice(["standard", "standard",
                                                           "express"])})
        if not always and rng.random() >= persona.pay:
            return False
        page = b.get("/checkout/payment", expect=(200, 302))
        price = re.search(r"Pay \$([\d,]+)\.(\d\d)", page)
        if price is None:
            return False  # sent back to the cart: something sold out
        total = int(price.group(1).replace(",", "")) * 100 + int(price.group(2))
        key = re.search(r'data-publishable-key="([^"]+)"', page).group(1)
        stripe = re.search(r'<script src="([^"]+)/js\.stripe\.com/v3/"', page).group(1)
        cards = []
        if rng.random() < self.config.decline_rate:
            cards.append(CARD_DECLINED)
        cards.append(CARD_3DS if rng.random() < self.config.three_ds_rate else CARD_OK)
        for i, card in enumerate(cards):
            if i > 0 and rng.random() > 0.7:
                journey.reach("payment")
                return False  # gave up after the decline
            self._pause(rng)
            answer = self._pay(b, stripe, key, card)
            if answer.get("status") is None:
                return False  # e.g. 409: sold out while paying; no payment was attempted
            journey.reach("payment")
            if answer.get("status") == "failed":
                result.declined += 1
                continue
            if answer.get("status") == "requires_action":
                self._authenticate(b, stripe, key, answer["client_secret"])
            elif answer.get("status") != "succeeded":
                raise ShopperError(f"payment answered {answer}")
            confirmation = b.get(answer["redirect"])
            if "Thank you!" not in confirmation:
                raise ShopperError("paid, but the confirmation page does not say so")
            journey.reach("purchase")
            journey.purchased, journey.revenue = True, total
            journey.order_id = int(re.search(r"TP-(\d+)", confirmation).group(1))
            journey.order_url = re.search(r'href="(/orders/[^"]+)"', confirmation).group(1)
            return True
        return False

    def _pay(self, b: Browser, stripe: str, key: str, card: str) -> dict:
        token = b.http.post(f"{stripe}/v1/tokens", timeout=b.timeout, data={
            "card[number]": card, "card[exp_month]": "12", "card[exp_year]": "2034",
            "card[cvc]": "123", "key": key})
        token.raise_for_status()
        response = b.post_json("/checkout/pay", {"card_ref": token.json()["card"]["id"]})
        return response.json() if response.status_code in (200, 402) else {}

    def _authenticate(self, b: Browser, stripe: str, key: str, client_secret: str) -> None:
        """What localstripe's Stripe.js does when the shopper clicks 'Complete
        authentication' in the 3-D Secure dialog."""
        intent = client_secret.split("_secret_")[0]
        b.http.post(f"{stripe}/v1/payment_intents/{intent}/_authenticate?success=true",
                    json={"key": key, "client_secret": client_secret},
                    timeout=b.timeout).raise_for_status()

    # -- the courier and the reviews ---------------------------------------------------------
    def _courier(self) -> Browser:
        """An admin session: the courier moves orders with the panel's API."""
        courier = Browser(self.config.base_url, DESKTOP_UA, self.config.timeout)
        page = courier.get("/admin/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        courier.http.post(courier.base + "/admin/login", timeout=courier.timeout, data={
            "email": self.config.admin_email, "password": self.config.admin_password,
            "csrf_token": token}, allow_redirects=False)
        courier.get("/admin/")  # a sign-in starts a fresh session: the panel's new CSRF token
        return courier

    def _advance(self, order_id: int) -> int:
        return self._admin_post(f"/admin/api/orders/{order_id}/advance")

    def _admin_post(self, path: str) -> int:
        """One action with the panel's API (a fulfilment step, a return's refund), in the
        courier's one long-lived
        session: signed in the first time, and again only when the panel rejects the
        session (401: signed out, password changed); a refused CSRF token (400: it is an
        hour old) is refreshed from a panel page. A sign-in per round would fill the
        200-entry audit log with courier logins within minutes. Answers the HTTP status;
        a courier whose sign-in is refused stops trying (no lockout, no audit flood)."""
        with self._courier_lock:
            if self._courier_refused:
                return 401
            if self._courier_session is None:
                self._courier_session = self._courier()
            courier = self._courier_session
            r = courier.post_json(path, {})
            if r.status_code == 400:
                courier.get("/admin/")  # the panel's current CSRF token
                r = courier.post_json(path, {})
            if r.status_code == 401:
                self._courier_session = courier = self._courier()
                r = courier.post_json(path, {})
                if r.status_code == 401:
                    self._courier_refused = True
        return r.status_code

    def _buyer(self, result: ShopperResult) -> Browser:
        """A buyer back later (from their email's link): a new tab, their device."""
        return Browser(self.config.base_url,
                       MOBILE_UA if result.device == "mobile" else DESKTOP_UA,
                       self.config.timeout)

    def _review(self, result: ShopperResult, journey: JourneyTruth,
                rng: random.Random) -> None:
        """The buyer follows the link to their order page and reviews what came."""
        buyer = self._buyer(result)
        page = buyer.get(journey.order_url)
        match = re.search(r'name="product_id" value="(\d+)"', page)
        if match is None:
            return
        rating, title, body = review_for(rng, random.Random(journey.order_url))
        buyer.post(f"{journey.order_url}/reviews", {
            "product_id": match.group(1), "rating": rating, "title": title, "body": body})
        journey.reach("reviewed")

    def _return(self, result: ShopperResult, journey: JourneyTruth,
                rng: random.Random) -> None:
        """The buyer sends one of the first line back from their order page; the shop
        refunds it (``refund_rate``) or declines it with the panel's API, and puts a
        refunded item back in stock unless it came back damaged."""
        buyer = self._buyer(result)
        page = buyer.get(journey.order_url)
        line = re.search(r'for="q-(\d+)">[^<]*<span class="muted">\(\$([\d,]+)\.(\d\d) each',
                         page)
        if line is None:
            return
        reason = rng.choice(("damaged", "wrong_item", "not_as_described", "no_longer_needed",
                             "other"))
        buyer.post(f"{journey.order_url}/returns", {f"qty-{line.group(1)}": "1",
                                                     "reason": reason})
        number = re.search(r"<strong>R-(\d{6})</strong>", buyer.get(journey.order_url))
        if number is None:
            raise ShopperError(f"no return number on {journey.order_url}")
        journey.returned = "requested"
        refund = rng.random() < self.config.refund_rate
        status = self._admin_post(
            f"/admin/api/returns/{int(number.group(1))}/{'refund' if refund else 'decline'}")
        if status != 200:
            self.courier_errors.append(f"return {number.group(1)}: {status}")
            return
        journey.returned = "refunded" if refund else "declined"
        if refund:
            journey.refunded = int(line.group(2).replace(",", "")) * 100 + int(line.group(3))
            if reason != "damaged":
                status = self._admin_post(f"/admin/api/returns/{int(number.group(1))}/restock")
                if status != 200:
                    self.courier_errors.append(f"restock of return {number.group(1)}: {status}")
                    return
                journey.restocked = True

    def deliver_and_review(self, rng: random.Random) -> None:
        paid = [(r, j) for r in self.results for j in r.journeys if j.purchased]
        if not paid or not self.config.admin_email:
            return
        for _result, journey in paid:
            for step in ("packed", "shipped", "out_for_delivery", "delivered"):
                status = self._advance(journey.order_id)
                if status != 200:
                    self.courier_errors.append(f"order {journey.order_id} {step}: {status}")
                    break
                if step in ("shipped", "delivered"):
                    journey.reach(step)
        for result, journey in paid:
            if journey.furthest >= STAGES.index("delivered"):
                self._after_delivery(result, journey, rng)

    def _after_delivery(self, result: ShopperResult, journey: JourneyTruth,
                        rng: random.Random) -> None:
        """Some buyers review what came; some send a line back."""
        if rng.random() < self.config.review_rate:
            self._review(result, journey, rng)
        if rng.random() < self.config.return_rate:
            try:
                self._return(result, journey, rng)
            except (ShopperError, requests.RequestException) as exc:
                self.courier_errors.append(f"return of order {journey.order_id}: {exc}")

    # -- running -----------------------------------------------------------------------------
    def run(self, progress=None) -> dict:
        if self.config.duration:
            self._run_for(self.config.duration, progress)
            self.deliver_and_review(random.Random(self.rng.randrange(2**32)))
            return self.ground_truth()
        seeds = [self.rng.randrange(2**32) for _ in range(self.config.shoppers)]
        with ThreadPoolExecutor(max_workers=max(1, self.config.concurrency)) as pool:
            futures = [pool.submit(self.shop, n, random.Random(seeds[n]))
                       for n in range(self.config.shoppers)]
            for future in as_completed(futures):
                with self._lock:
                    self.results.append(future.result())
                if progress is not None:
                    progress(1)
        self.deliver_and_review(random.Random(self.rng.randrange(2**32)))
        return self.ground_truth()

    def _run_for(self, seconds: float, progress=None) -> None:
        """``concurrency`` shoppers at all times until ``seconds`` pass (at most
        ``shoppers`` in all); those still shopping then finish."""
        deadline = time.monotonic() + seconds
        started = 0
        with ThreadPoolExecutor(max_workers=max(1, self.config.concurrency)) as pool:
            pending: set = set()
            while pending or (time.monotonic() < deadline and started < self.config.shoppers):
                while (len(pending) < self.config.concurrency and started < self.config.shoppers
                       and time.monotonic() < deadline):
                    pending.add(pool.submit(self.shop, started,
                                            random.Random(self.rng.randrange(2**32))))
                    started += 1
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in done:
                    with self._lock:
                        self.results.append(future.result())
                    if progress is not None:
                        progress(1)

    def ground_truth(self) -> dict:
        journeys = [j for r in self.results for j in r.journeys]
        reached = Counter()
        abandoned = Counter()
        for j in journeys:
            for index in range(j.furthest + 1):
                reached[STAGES[index]] += 1
            if not j.purchased and j.furthest >= 0:
                abandoned[STAGES[j.furthest]] += 1
        recovered = sum(
            1 for r in self.results if len(r.journeys) > 1 and r.journeys[-1].purchased
        )
        return {
            "shoppers": len(self.results),
            "journeys": len(journeys),
            "stages": {s: {"reached": reached[s], "abandoned": abandoned[s]} for s in STAGES},
            "purchases": sum(1 for j in journeys if j.purchased),
            "revenue": sum(j.revenue for j in journeys),
            "currency": "USD",
            "declined_payments": sum(r.declined for r in self.results),
            "recovered": recovered,
            "returns": {outcome: sum(1 for j in journeys if j.returned == outcome)
                        for outcome in ("requested", "refunded", "declined")},
            "refunded": sum(j.refunded for j in journeys),
            "restocked": sum(1 for j in journeys if j.restocked),
            "personas": dict(Counter(r.persona for r in self.results)),
            "devices": dict(Counter(r.device for r in self.results)),
            "errors": [e for r in self.results for e in r.errors] + self.courier_errors,
        }


def format_truth(truth: dict) -> str:
    lines = [f"{truth['shoppers']} shoppers, {truth['journeys']} journeys, "
             f"{truth['purchases']} purchases, revenue ${truth['revenue'] / 100:,.2f}",
             f"{'stage':<10} {'reached':>8} {'abandoned':>10}"]
    for stage, row in truth["stages"].items():
        lines.append(f"{stage:<10} {row['reached']:>8} {row['abandoned']:>10}")
    lines.append(f"declined payments: {truth['declined_payments']}, "
                 f"recovered carts: {truth['recovered']}, errors: {len(truth['errors'])}")
    returns = truth.get("returns") or {}
    if any(returns.values()):
        lines.append(f"returns: {returns['refunded']} refunded "
                     f"(${truth['refunded'] / 100:,.2f}), {returns['declined']} declined, "
                     f"{returns['requested']} undecided; {truth.get('restocked', 0)} "
                     f"refunded item{'' if truth.get('restocked', 0) == 1 else 's'} back in "
                     "stock")
    return "\n".join(lines)


def dump(truth: dict, path: str) -> None:
    with open(path, "w") as f:
        json.dump(truth, f, indent=2, sort_keys=True)


class Trickle:
    """The live demo: a few shoppers a second, forever, and a courier on the rounds.

    Shoppers start at ``rate`` per second (``concurrency`` at most at once). Every
    ``courier_every`` seconds the courier moves each paid order one step further, so the
    panel shows orders travelling from paid to delivered; delivered buyers may review.
    """

    def __init__(self, config: SimulationConfig, rate: float, courier_every: float = 20.0):
        self.config = config
        self.rate = rate
        self.courier_every = courier_every
        self.simulation = Simulation(config)
        self.stop = threading.Event()
        self.started = 0
        self._rounds: dict[int, int] = {}  # order id -> steps done
        self._pending: list[tuple[ShopperResult, JourneyTruth]] = []

    def run(self, on_tick=None) -> dict:
        rng = self.simulation.rng
        next_courier = time.monotonic() + self.courier_every
        with ThreadPoolExecutor(max_workers=max(1, self.config.concurrency)) as pool:
            running: set = set()
            while not self.stop.is_set():
                running = {f for f in running if not f.done()}
                if len(running) < self.config.concurrency:
                    seed = rng.randrange(2**32)
                    future = pool.submit(self.simulation.shop, self.started, random.Random(seed))
                    future.add_done_callback(self._collect)
                    running.add(future)
                    self.started += 1
                if time.monotonic() >= next_courier:
                    self._courier_round(rng)
                    next_courier = time.monotonic() + self.courier_every
                if on_tick is not None:
                    on_tick(self)
                self.stop.wait(rng.expovariate(self.rate) if self.rate > 0 else 1.0)
            self.stop.set()
        return self.simulation.ground_truth()

    def _collect(self, future) -> None:
        result = future.result()
        with self.simulation._lock:
            self.simulation.results.append(result)
            self._pending.extend((result, j) for j in result.journeys if j.purchased)

    def _courier_round(self, rng: random.Random) -> None:
        """One step for every order on the road (a real courier does not deliver at once)."""
        with self.simulation._lock:
            pending, self._pending = self._pending, []
        if not pending or not self.config.admin_email:
            return
        sim = self.simulation
        still = []
        for result, journey in pending:
            step = self._rounds.get(journey.order_id, 0)
            if step < 4 and sim._advance(journey.order_id) == 200:
                step += 1
                self._rounds[journey.order_id] = step
                if step == 2:
                    journey.reach("shipped")
                if step == 4:
                    journey.reach("delivered")
            if step < 4:
                still.append((result, journey))
            else:
                sim._after_delivery(result, journey, rng)
            if step >= 4:
                self._rounds.pop(journey.order_id, None)
        with self.simulation._lock:
            self._pending.extend(still)
