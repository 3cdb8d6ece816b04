from analytics_project.settings.base import *  # noqa: F401,F403
