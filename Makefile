# TrustGuard Assistant. `make run` and `make test` work on a fresh machine: see README.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
INSTALLED := $(VENV)/.installed
DEV_INSTALLED := $(VENV)/.installed-dev
MODEL := models/trustguard.tar.gz
# The Python that shapes NLU counts too: the tokenizer, the order-intent guard and the code and
# order-id patterns.
TRAINING_INPUTS := config.yml domain.yml $(shell find data -type f -name '*.yml') \
	connectors/tokenizer.py connectors/order_guard.py bot/shop/understanding.py \
	bot/platform/patterns.py
SHOP ?=
# Extra arguments for the chat of make chat-whatsapp (python -m devtools.whatsapp_chat --help).
ARGS ?=

export RASA_TELEMETRY_ENABLED := false
export PYTHONPATH := $(CURDIR)

.PHONY: help setup system system-test services run cluster shell chat-whatsapp train lint format test test-unit \
	test-dialogues test-e2e bench reload clean

help:
	@echo "make run     set everything up and start the assistant (REST channel, port 5005)"
	@echo "make cluster the same on PostgreSQL and Redis: 2 turn servers and an acknowledging endpoint"
	@echo "make shell   talk to the assistant in the terminal (SHOP=<id> for another shop)"
	@echo "make chat-whatsapp  chat through the real WhatsApp path, against a local Graph API double"
	@echo "            (ARGS=\"--username ada_buys\": as a buyer with a username who shows no number)"
	@echo "make train   validate the training data and train, only when it changed"
	@echo "make reload  train if needed and load the model into the running assistant"
	@echo "make test    set everything up and run every check and test"
	@echo "make lint    ruff lint and format check, mypy; make format fixes formatting"

# What the assistant runs with (make run), in a fresh venv; the development tools on top
# (make test). Both are locked by constraints.txt.
$(INSTALLED): requirements.txt constraints.txt scripts/bootstrap
	scripts/bootstrap $(VENV)
	@touch $@

$(DEV_INSTALLED): requirements-dev.txt $(INSTALLED)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	$(PY) -m pip check
	@touch $@

# Debian's Tesseract for the receipt checks (and, for the tests, Chromium and fonts): installed
# with apt-get when missing, or a clear message saying what to install.
system:
	scripts/system-packages run

system-test:
	scripts/system-packages test

setup: $(INSTALLED) system
	$(PY) -m bot env init
	$(PY) -m bot db upgrade
	$(PY) -m bot shop demo

# Retrained only when the training data, domain or config changed; a failed validation or
# training leaves the previous model in place. Shops' phrasings that repeat or contradict other
# examples are refused first, naming file, intent and example.
$(MODEL): $(TRAINING_INPUTS) | $(INSTALLED)
	$(PY) -m bot nlu check
	$(BIN)/rasa data validate --fail-on-warnings
	$(BIN)/rasa train --fixed-model-name trustguard --out models

train: $(MODEL)

# Load the newest model into the running server (make run) without a restart.
reload: train
	@set -a; source .env; set +a; curl -fsS -X PUT \
	  "http://127.0.0.1:$${RASA_PORT:-5005}/model?token=$${RASA_API_TOKEN}" \
	  -H 'Content-Type: application/json' -d '{"model_file": "$(CURDIR)/$(MODEL)"}' \
	  && echo "the running assistant now uses $(MODEL)"

run: setup train
	$(PY) -m bot.launcher

# The production layout on this machine: PostgreSQL, Redis, RASA_SERVERS turn servers (2) and the
# acknowledging endpoint on RASA_PORT; see README, "Several servers".
cluster: setup train
	$(PY) -m bot.cluster

shell: setup train
	$(if $(SHOP),DEFAULT_SHOP=$(SHOP)) $(PY) -m bot.launcher --shell

# Signed webhooks in, Graph API sends out (to devtools/graph_double.py), no Meta account needed.
chat-whatsapp: setup train
	scripts/chat-whatsapp $(ARGS)

bench: setup train
	$(PY) -m bench.webhooks

lint: $(DEV_INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(DEV_INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The tests use the machine's PostgreSQL and Redis: say which is missing, and how to start it.
services: $(INSTALLED)
	$(PY) -m bot.cluster --check

test-unit: $(DEV_INSTALLED) system-test services
	$(PY) -m pytest -m "not e2e"

test-dialogues: $(MODEL) $(DEV_INSTALLED)
	$(BIN)/rasa test core --model $(MODEL) --stories tests/stories --e2e --fail-on-prediction-errors --out results/core

test-e2e: $(MODEL) $(DEV_INSTALLED) system-test services
	$(PY) -m pytest -m e2e

test: lint test-unit test-dialogues test-e2e

clean:
	rm -rf models results .rasa var/test-*
