# The two commands: `make run` and `make test`.  Everything else is a step they take.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test venv controlplane lint typecheck layers check unit conformance e2e docs docs-serve \
	test-badinput test-chaos test-sharding test-long test-differential test-embedded bench bench-quick \
	bench-operator-rest bench-plugins browser clean

DEMO := examples/appservice

run: $(STAMP)
	PYTHONPATH=$(DEMO)/src $(BIN)/kubeloop dev appservice_operator.operator:operator \
		--sample $(DEMO)/config/samples/app.example.com_v1_appservice.yaml

# The conformance tests make test also runs on the embedded API server (the rest runs there in
# make test-embedded): client and crd whole, and the files that guard its metadata-only answers,
# events.k8s.io Events (regarding.* field selectors, eventTime) and a CRD update that drops a version
# still in status.storedVersions (refused).
EMBEDDED_SHORT ?= tests/conformance/client tests/conformance/crd \
	tests/conformance/cache/test_scoped_informers.py tests/conformance/helpers/test_events.py \
	tests/conformance/olm/test_olm_safety_apiserver.py

# pytest's worker processes (pytest-xdist; 0: all in pytest's own process). Each worker starts its own
# control plane and embedded server and takes whole files in the suite's order (--dist loadfile
# --no-loadscope-reorder), so module fixtures stay in one process and each worker runs its files in the
# order one process would. The suite waits more than it computes (84 % of one core of 2 in one process):
# with 2, a fresh clone's CI took pytest 18:18 instead of 34:04 (1,949 passed; the whole run 20.9 min).
PYTEST_WORKERS ?= 2
PYTEST_PARALLEL = -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The steps before pytest run two at a time: on a fresh machine the control plane's Go build overlaps
# the checks, the docs build and the browser download.
test: $(STAMP)
	$(MAKE) --no-print-directory --jobs=2 --output-sync=target controlplane browser check docs
	$(BIN)/pytest -m 'not long' $(PYTEST_PARALLEL) --durations=40
	KUBELOOP_CLUSTER=embedded $(BIN)/pytest -m 'not long' $(PYTEST_PARALLEL) --durations=10 $(EMBEDDED_SHORT)

venv: $(STAMP)

# Chromium for the site's browser check (tests/docs/test_browser.py).
browser:
	hack/install-chromium.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,docs,examples,ansible]'
	touch $(STAMP)

controlplane: $(STAMP)
	$(BIN)/kubeloop controlplane build

lint: $(STAMP)
	$(BIN)/ruff check src tests examples bench
	$(BIN)/ruff format --check src tests examples bench

typecheck: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

check: lint typecheck layers

# The documentation site (mkdocs.yml): strict, so a broken link, reference or any warning fails it.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --strict

unit: $(STAMP)
	$(BIN)/pytest tests/unit

# Bad input at scale: the AppService operator fed 1,000 hypothesis-made odd objects (make test runs
# 60 of them); a random seed each run, printed by hypothesis when an object fails.
BADINPUT_EXAMPLES ?= 1000
test-badinput: $(STAMP) controlplane
	KUBELOOP_BADINPUT_EXAMPLES=$(BADINPUT_EXAMPLES) $(BIN)/pytest -s \
		tests/e2e/test_appservice_bad_input.py::test_odd_appservices_end_with_a_condition_and_an_event_or_a_refusal_and_nothing_spins

# The chaos suite's full form: 1,000 AppServices through each fault; the table and its rows as JSON go
# to build/chaos/, for docs/reliability.md (make test runs a short form of 16).
test-chaos: $(STAMP) controlplane
	KUBELOOP_CHAOS=full $(BIN)/pytest -s tests/chaos

# Sharding across replicas at the issue's size: 2,000 AppServices over three replicas, through a
# SIGKILL, a fourth added, bad input and a scale to one (make test runs 12, make test-long 30).
test-sharding: $(STAMP) controlplane
	KUBELOOP_SHARDING=full $(BIN)/pytest -s -m long tests/e2e/test_sharding.py

# Differential conformance's long run: KUBELOOP_DIFFERENTIAL request sequences against the real and
# the embedded API server (make test runs 12), shared by DIFFERENTIAL_CHUNKS pytest processes at once
# (seeds DIFFERENTIAL_SEED+1..., each with its own servers; logs and counts in build/differential-<seed>.*),
# merged into build/differential.md. KUBELOOP_DIFFERENTIAL_RESUME=1 continues the chunks' counts of an
# earlier run stopped on the same code (a chunk refuses other code).
# A command started with & in make's shell ignores SIGINT (POSIX: no job control), and Python keeps it
# ignored: each chunk gets SIGINT's default back (GNU env), so Ctrl-C stops the chunks with make.
KUBELOOP_DIFFERENTIAL ?= 10000
DIFFERENTIAL_CHUNKS ?= 3
DIFFERENTIAL_SEED ?= 1700
test-differential: $(STAMP) controlplane
	@mkdir -p build; per=$$(( ($(KUBELOOP_DIFFERENTIAL) + $(DIFFERENTIAL_CHUNKS) - 1) / $(DIFFERENTIAL_CHUNKS) )); \
	pids=; files=; for i in $$(seq $(DIFFERENTIAL_CHUNKS)); do s=$$(( $(DIFFERENTIAL_SEED) + i )); \
		KUBELOOP_DIFFERENTIAL=$$per env --default-signal=INT $(BIN)/pytest -s -m long -p no:cacheprovider \
			--hypothesis-seed=$$s tests/conformance/apiserver/test_apiserver_differential.py \
			> build/differential-$$s.log 2>&1 & \
		pids="$$pids $$!"; files="$$files build/differential-$$s.json"; \
	done; echo "chunks of $$per sequences:$$files"; rc=0; for p in $$pids; do wait $$p || rc=1; done; \
	$(BIN)/python tests/conformance/apiserver/test_apiserver_differential.py $$files && exit $$rc

# The whole conformance suite on the embedded API server instead of the real control plane (tests that
# need the real one itself are skipped with their reason; see docs/apiserver.md, Tests).
test-embedded: $(STAMP)
	KUBELOOP_CLUSTER=embedded $(BIN)/pytest -m 'not long' -rs $(PYTEST_PARALLEL) tests/conformance

# The cases marked long (pytest -m long): make test runs a short form of each such test.
test-long: $(STAMP) controlplane
	$(BIN)/pytest -m long

# The operator benchmark (bench/operator): the AppService operator as kubeloop, controller-runtime, kopf
# and the bare-client floor on one control plane with kwok nodes (the Go operator is built with the
# machine's Go and cached); writes docs/benchmarks/operator.md, its plots and the operator section of
# docs/benchmarks.md. Quick: 50 AppServices, 3 repetitions (kopf 1), 2 min steady state: 6.8 min
# under the benchmark lock on the 2-core machine (2026-12-06, other work at nice 19), 7.2 min on a
# fresh clone of the quiet machine, its virtualenv made first (2026-12-07); its report goes to
# $(BENCH_OUT)-quick/, so that it does not overwrite the full run's committed one.
# Full (make bench, unattended, best in a quiet window; ~4 h): parts that each take the benchmark lock
# where there is one (other work can go between them), each on a control plane of its own, their
# results (build/bench-operator/) merged and rendered at the end. 1,000 AppServices: kubeloop,
# controller-runtime and the floor one repetition a part (~16 min; the first with the cProfile run,
# ~21 min; the third with the 10-minute steady state, ~26 min); kopf one repetition a part (~10 min).
# 10,000 AppServices (BENCH_LARGE_IMPLS): one repetition of each implementation a part, no steady
# state, a section of docs/benchmarks/operator.md (--scale); run.py spreads a run's AppServices over
# one namespace per 1,000 (kube-controller-manager's syncs list the namespace: 10,000 in one made its
# converge quadratic, docs/benchmarks/operator.md, *10,000 AppServices*); kopf, not in the default list.
BENCH_LOCK ?= /work/wt/bench.lock
LOCKED = $(if $(wildcard $(BENCH_LOCK)),flock $(BENCH_LOCK))
OPERATOR = $(BIN)/python bench/operator/run.py
BENCH_OUT ?= build/bench-operator
BENCH_LARGE ?= 10000
BENCH_LARGE_IMPLS ?= kubeloop controller-runtime floor

bench-quick: $(STAMP) controlplane
	$(BIN)/pip install --quiet -e '.[bench]'
	rm -rf $(BENCH_OUT)-quick && mkdir -p $(BENCH_OUT)-quick
	$(OPERATOR) --quick --results $(BENCH_OUT)-quick/results.json --out $(BENCH_OUT)-quick

bench: $(STAMP) controlplane
	$(BIN)/pip install --quiet -e '.[bench]'
	rm -rf $(BENCH_OUT) && mkdir -p $(BENCH_OUT)
	for rep in 1 2 3; do \
		idle=0; extra=; [ $$rep = 1 ] && extra=--profile; [ $$rep = 3 ] && idle=600; \
		$(LOCKED) $(OPERATOR) --apps 1000 --reps 1 --first-rep $$rep --impls kubeloop,controller-runtime,floor \
			--idle $$idle $$extra --results $(BENCH_OUT)/1000-$$rep.json --out $(BENCH_OUT)/1000-$$rep || exit 1; \
		$(LOCKED) $(OPERATOR) --apps 1000 --reps 1 --first-rep $$rep --impls kopf --idle 0 \
			--results $(BENCH_OUT)/1000-kopf-$$rep.json --out $(BENCH_OUT)/1000-kopf-$$rep || exit 1; \
	done
	for impl in $(BENCH_LARGE_IMPLS); do \
		$(LOCKED) $(OPERATOR) --apps $(BENCH_LARGE) --reps 1 --impls $$impl --idle 0 --timeout 3600 \
			--results $(BENCH_OUT)/large-$$impl.json --out $(BENCH_OUT)/large-$$impl || exit 1; \
	done
	$(OPERATOR) --merge $(BENCH_OUT)/large-*.json --results bench/operator/results-$(BENCH_LARGE).json \
		--out $(BENCH_OUT)/large --summary /dev/null
	$(OPERATOR) --merge $(BENCH_OUT)/1000-3.json $(BENCH_OUT)/1000-[12].json $(BENCH_OUT)/1000-kopf-*.json \
		--results bench/operator/results-1000.json --scale bench/operator/results-$(BENCH_LARGE).json \
		--out docs/benchmarks --summary docs/benchmarks.md
	$(MAKE) bench-plugins

# What issue 16 had left to measure after session 13, one command: each part its own run.py on a
# control plane of its own under the benchmark lock (other work can go between parts), results in
# $(REST_OUT)/, merged and rendered there for the docs to take up (the 1,000 runs' latency, cold
# start and steady state replace the tables that results-1000.json gives for those sections).
# Estimates from session 12-13's runs on the 2-core machine:
#   1000-latency (~19 min): kubeloop, controller-runtime, floor at 1,000: converge, latency (50
#     changes), cold start, then the three left alone together for 10 minutes (steady state);
#   1000-kopf-latency (~16 min): kopf, the same;
#   10000-kopf: kopf's converge at 10,000 (over 10 namespaces of 1,000; estimated ~25 min).
#   On request (REST_PARTS=...): 10000-cold-IMPL (converge and cold start at 10,000),
#   10000-storm-IMPL (converge and update storm), 10000-floor (converge), 10000-kopf-cold.
REST_OUT ?= build/bench-operator-rest
REST_PARTS ?= 1000-latency 1000-kopf-latency 10000-kopf

bench-operator-rest: $(STAMP) controlplane
	$(BIN)/pip install --quiet -e '.[bench]'
	mkdir -p $(REST_OUT)
	for part in $(REST_PARTS); do \
		case $$part in \
		1000-latency) args="--apps 1000 --impls kubeloop,controller-runtime,floor --idle 600 --phases=latency,cold";; \
		1000-kopf-latency) args="--apps 1000 --impls kopf --idle 600 --phases=latency,cold";; \
		10000-kopf) args="--apps 10000 --impls kopf --idle 0 --phases=";; \
		10000-kopf-cold) args="--apps 10000 --impls kopf --idle 0 --phases=cold";; \
		10000-floor) args="--apps 10000 --impls floor --idle 0 --phases=";; \
		10000-cold-*) args="--apps 10000 --impls $${part#10000-cold-} --idle 0 --phases=cold";; \
		10000-storm-*) args="--apps 10000 --impls $${part#10000-storm-} --idle 0 --phases=update";; \
		*) echo "unknown part $$part"; exit 1;; \
		esac; \
		$(LOCKED) $(OPERATOR) $$args --reps 1 --first-rep 11 --timeout 3600 \
			--results $(REST_OUT)/$$part.json --out $(REST_OUT)/$$part || exit 1; \
	done
	if ls $(REST_OUT)/1000-*.json >/dev/null 2>&1; then $(OPERATOR) --merge $(REST_OUT)/1000-*.json \
		--results $(REST_OUT)/results-1000.json --out $(REST_OUT)/1000 --summary /dev/null; fi
	if ls $(REST_OUT)/10000-*.json >/dev/null 2>&1; then $(OPERATOR) --merge $(REST_OUT)/10000-*.json \
		--results $(REST_OUT)/results-10000.json --out $(REST_OUT)/10000 --summary /dev/null; fi

# The Ansible and Helm operator benchmark (bench/plugins): the AppService role and chart run by kubeloop
# and by operator-sdk's ansible-operator and helm-operator (built from their Go modules with the
# machine's Go and cached), 100 AppServices; three runs (each Ansible operator, then both Helm ones),
# each under the benchmark lock where there is one, reported together in docs/benchmarks/plugins.md.

bench-plugins: $(STAMP) controlplane
	$(BIN)/pip install --quiet -e '.[bench]'
	$(LOCKED) $(BIN)/python bench/plugins/run.py --apps 100 --plugins ansible --impls kubeloop
	$(LOCKED) $(BIN)/python bench/plugins/run.py --apps 100 --plugins ansible --impls operator-sdk --merge
	$(LOCKED) $(BIN)/python bench/plugins/run.py --apps 100 --plugins helm --merge

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache site
