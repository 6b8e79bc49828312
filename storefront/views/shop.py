"""Landing page, search, category pages and product pages."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from .. import catalog
from ..extensions import journey
from ..schemas import ListingSchema, has_control_characters, load_form

bp = Blueprint("shop", __name__)


@bp.get("/")
def landing():
    return render_template(
        "landing.html",
        featured=catalog.featured(),
        deals=catalog.deals(),
        categories=catalog.categories(),
    )


def _listing(template: str, category=None, **extra):
    args = request.args.to_dict()
    if category is not None:
        args["category"] = category.slug
    values, errors = load_form(ListingSchema(), args)
    sorts = {"sorts": catalog.SORTS, "sort_labels": catalog.SORT_LABELS}
    if errors:
        current = values.get("sort") if values.get("sort") in catalog.SORTS else None
        sorts["current_sort"] = current or catalog.default_sort(str(values.get("q", "")).split())
        return render_template(
            template, page=None, errors=errors, form=values, category=category,
            categories=catalog.categories(), **sorts, **extra,
        ), 400
    query = catalog.ListingQuery(**values)
    page = catalog.search(query, current_app.config["PAGE_SIZE"])
    last = max(page.pages, 1)
    if query.page > last:  # an old link or a typed number past the end: the last page
        args = request.args.copy()
        args["page"] = str(last)
        return redirect(url_for(request.endpoint, **request.view_args) + "?"
                        + urlencode(list(args.items(multi=True))))
    if query.terms and category is None:
        journey.track("search", query=query.q[:200], results=page.total)
    return render_template(
        template, page=page, errors={}, form={**request.args.to_dict(), "q": query.q},
        query=query, category=category, categories=catalog.categories(),
        current_sort=query.sort, **sorts, **extra,
    )


@bp.get("/search")
def search():
    return _listing("search.html")


@bp.get("/c/<slug>")
@journey.tracks("category_view", category=lambda slug: slug)
def category(slug: str):
    found = None if has_control_characters(slug) else catalog.category_by_slug(slug)
    if found is None:
        abort(404)
    return _listing("category.html", category=found)


@bp.get("/p/<slug>")
def product(slug: str):
    found = None if has_control_characters(slug) else catalog.product_by_slug(slug)
    if found is None:
        abort(404)
    journey.track("product_view", product_id=str(found.id), sku=found.sku, price=found.price,
                  currency=found.currency)
    return render_template(
        "product.html",
        product=found,
        histogram=catalog.rating_histogram(found),
        reviews=catalog.reviews_for(found),
        bought_together=catalog.bought_together(found),
        also_viewed=catalog.also_viewed(found),
    )
