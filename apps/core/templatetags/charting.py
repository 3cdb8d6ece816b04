"""`{% charting_scripts %}`: the pinned chart library and the one chart module, as script tags."""

from __future__ import annotations

from django import template
from django.templatetags.static import static
from django.utils.html import format_html

from apps.core.charting import CHARTS_STATIC, ECHARTS_STATIC

register = template.Library()


@register.simple_tag
def charting_scripts() -> str:
    return format_html('<script src="{}"></script>\n<script src="{}"></script>', static(ECHARTS_STATIC),
                       static(CHARTS_STATIC))
