# The documented way in: `make demo`, `make test`, `make lint`, `make bench`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO := demo/store
STAMP := $(VENV)/.installed

.PHONY: demo test test-pg lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,lint]'
	touch $(STAMP)

# A fresh store in demo/store, the bundled sample set (demo/data, made by demo/data/make_demo.py) and
# paycli's main job: what needs a look. Ingest exits 1 on purpose: one request line is bad (quarantined).
demo: $(STAMP)
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	{ printf 'database: sqlite:///%s/paycli.db\n' "$(CURDIR)/$(DEMO)"; cat demo/config.yaml; } > $(DEMO)/paycli.yaml
	cd $(DEMO) && ../../$(BIN)/paycli ingest ../data/requests.csv ../data/deposits.jsonl ../data/callbacks/ || test $$? -eq 1
	cd $(DEMO) && ../../$(BIN)/paycli resolve DEMO-1004-1 --as NEGATIVO --by anna --note "abandoned: no payment in the Stripe dashboard"
	cd $(DEMO) && ../../$(BIN)/paycli resolve DEMO-1013-1 --as NEGATIVO --by anna --note "no charge in the Nexi back office"
	cd $(DEMO) && ../../$(BIN)/paycli ingest ../data/later/
	cd $(DEMO) && ../../$(BIN)/paycli ingest ../data/settlement/
	@echo; echo '$$ paycli list --outcome VERIFICARE'
	@cd $(DEMO) && ../../$(BIN)/paycli list --outcome VERIFICARE
	@echo; echo '$$ paycli show DEMO-1011-1'
	@cd $(DEMO) && ../../$(BIN)/paycli show DEMO-1011-1
	@echo; echo '$$ paycli order DEMO-1009'
	@cd $(DEMO) && ../../$(BIN)/paycli order DEMO-1009
	@echo; echo '$$ paycli report --date 2026-11-26 --out reports/'
	@cd $(DEMO) && ../../$(BIN)/paycli report --date 2026-11-26 --out reports/
	@echo; echo "The demo store is in $(DEMO): cd $(DEMO) && ../../$(BIN)/paycli list"

test: $(STAMP)
	$(BIN)/pytest -q

# The same suite on PostgreSQL: run it under `pg_virtualenv make test-pg`, which sets PG* for libpq.
test-pg: $(STAMP)
	PAYCLI_TEST_DB=postgresql+psycopg:// $(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check paycli tests bench
	$(BIN)/ruff format --check paycli tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/bench_store.py
	$(BIN)/python bench/bench_gateways.py
	$(BIN)/python bench/bench_serve.py
	$(BIN)/python bench/bench_report.py
	$(BIN)/python bench/bench_everyday.py

clean:
	rm -rf $(VENV) $(DEMO) bench/out .pytest_cache .mypy_cache .ruff_cache .hypothesis
