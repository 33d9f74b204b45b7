"""A CVO's status subscription to the credential behind a share link it opened
(holding/subscriptions.py): the form on the verified page ``/s/<token>`` (posting to
``/s/<token>/subscribe`` with the grant the open gave), the JSON API
``POST /api/v1/shares/<token>/subscriptions`` (with ``X-Share-Grant``, or as any API open),
and the subscriber's own page and API: ``/subscriptions/<id>/<secret>`` (its state, whether
notices are failing, an Unsubscribe button), ``GET``/``DELETE /api/v1/subscriptions/<id>`` with
``X-Subscription-Secret`` (docs/openapi.yaml)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from credshare.foundation.errors import CredshareError, NotFoundError
from credshare.holding.shares import ShareGone
from credshare.holding.subscriptions import Subscribed
from credshare.sharing.context import client_address, services
from credshare.sharing.display import when
from credshare.sharing.json_body import json_object
from credshare.sharing.verify_pages import GRANT_COOKIE, GRANT_HEADER, PASSCODE_HEADER

bp = Blueprint("subscribe", __name__)
SECRET_HEADER = "X-Subscription-Secret"


def _client() -> tuple[str | None, str | None]:
    return client_address(), request.user_agent.string


def _links(made: Subscribed) -> dict[str, str]:
    base = services().settings.public_url.rstrip("/")
    return {"unsubscribe": f"{base}/subscriptions/{made.subscription_id}/{made.secret}",
            "status": f"{base}/api/v1/subscriptions/{made.subscription_id}"}


@bp.post("/s/<token>/subscribe")
def subscribe_form(token: str) -> BaseResponse:
    """The form of templates/_subscribe.html: only a browser that opened the link (its grant)
    subscribes, and subscribing counts no view."""
    svc = services()
    grant = request.cookies.get(GRANT_COOKIE)
    try:
        if not svc.shares.gate(token, _client(), grant).granted:
            return redirect(url_for("verify.show", token=token))
        opened, _ = svc.shares.open(token, _client(), grant=grant, download=True, outcome="status subscription")
    except (ShareGone, NotFoundError) as exc:
        return make_response(render_template("share_gone.html", error=exc), exc.http_status)
    channel = request.form.get("channel", "")
    target = request.form.get("target", "")
    try:
        made = svc.subscriptions.subscribe(opened, email=target if channel == "email" else None,
                                           webhook=target if channel == "webhook" else None)
    except CredshareError as exc:
        if exc.http_status >= 500:
            raise
        return make_response(render_template("subscription.html", error=exc, token=token, made=None, sub=None,
                                             when=when), exc.http_status)
    sub = svc.subscriptions.describe(made.subscription_id, made.secret)
    return make_response(render_template("subscription.html", error=None, token=token, made=made, sub=sub,
                                         links=_links(made), when=when), 201)


@bp.post("/api/v1/shares/<token>/subscriptions")
def subscribe_api(token: str) -> Any:
    svc = services()
    try:
        body = json_object()
        grant = request.headers.get(GRANT_HEADER)
        opened, grant = svc.shares.open(token, _client(), passcode=request.headers.get(PASSCODE_HEADER), grant=grant,
                                        download=True, outcome="status subscription (API)")
        made = svc.subscriptions.subscribe(opened, email=body.get("email"), webhook=body.get("webhook"))
    except CredshareError as exc:
        return jsonify(exc.to_dict()), exc.http_status
    answer = {"id": made.subscription_id, "kind": made.kind, "link": made.link_id, "secret": made.secret,
              **_links(made), "subscription": svc.subscriptions.describe(made.subscription_id, made.secret)}
    response = make_response(jsonify(answer), 201)
    response.headers[GRANT_HEADER] = grant
    return response


def _page(sub_id: str, secret: str, *, ended_now: bool = False) -> BaseResponse:
    try:
        sub = services().subscriptions.describe(sub_id, secret)
    except NotFoundError as exc:
        return make_response(render_template("subscription.html", error=exc, token=None, made=None, sub=None,
                                             when=when), 404)
    return make_response(render_template("subscription.html", error=None, token=None, made=None, sub=sub,
                                         secret=secret, ended_now=ended_now, when=when))


@bp.get("/subscriptions/<sub_id>/<secret>")
def subscription_page(sub_id: str, secret: str) -> BaseResponse:
    return _page(sub_id, secret)


@bp.post("/subscriptions/<sub_id>/<secret>")
def unsubscribe_page(sub_id: str, secret: str) -> BaseResponse:
    try:
        services().subscriptions.unsubscribe(sub_id, secret)
    except NotFoundError:
        pass  # the page says so
    return _page(sub_id, secret, ended_now=True)


@bp.get("/api/v1/subscriptions/<sub_id>")
def subscription_api(sub_id: str) -> Any:
    try:
        return jsonify(services().subscriptions.describe(sub_id, request.headers.get(SECRET_HEADER, "")))
    except CredshareError as exc:
        return jsonify(exc.to_dict()), exc.http_status


@bp.delete("/api/v1/subscriptions/<sub_id>")
def unsubscribe_api(sub_id: str) -> Any:
    secret = request.headers.get(SECRET_HEADER, "")
    try:
        services().subscriptions.unsubscribe(sub_id, secret)
        return jsonify(services().subscriptions.describe(sub_id, secret))
    except CredshareError as exc:
        return jsonify(exc.to_dict()), exc.http_status
