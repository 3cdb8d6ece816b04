from django.urls import path

from apps.dashboards.api import views

urlpatterns = [
    path("dashboards", views.DashboardListApi.as_view(), name="dashboards"),
    # Before `dashboards/<str:dashboard_id>`, which would take these words for an id.
    path("dashboards/templates", views.TemplateListApi.as_view(), name="dashboard-templates"),
    path("dashboards/from-template", views.DashboardFromTemplateApi.as_view(), name="dashboard-from-template"),
    path("dashboards/<str:dashboard_id>", views.DashboardDetailApi.as_view(), name="dashboard"),
    path("dashboards/<str:dashboard_id>/data", views.DashboardDataApi.as_view(), name="dashboard-data"),
    path("dashboards/<str:dashboard_id>/duplicate", views.DashboardDuplicateApi.as_view(), name="dashboard-duplicate"),
    path("dashboards/<str:dashboard_id>/widgets", views.WidgetListApi.as_view(), name="dashboard-widgets"),
    path("dashboards/<str:dashboard_id>/widgets/<str:widget_id>", views.WidgetDetailApi.as_view(),
         name="dashboard-widget"),
    path("dashboards/<str:dashboard_id>/share", views.ShareListApi.as_view(), name="dashboard-shares"),
    path("dashboards/<str:dashboard_id>/share/<str:share_id>", views.ShareDetailApi.as_view(),
         name="dashboard-share"),
]
