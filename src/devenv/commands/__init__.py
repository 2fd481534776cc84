"""The verbs, one module each. Importing this package subscribes the integrations to the
environments' notifications (:mod:`devenv.envs.events`); nothing is imported until one fires."""

from devenv.envs import events

events.subscribe("devenv.integrations.wezterm:on_environments_changed")
