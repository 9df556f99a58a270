# The README's two commands are `make demo` and `make test`; hack/run.sh does the work.
.PHONY: demo test sanity lint package docs unit integration molecule bench down setup
demo test sanity lint package docs unit integration molecule bench down setup:
	@hack/run.sh $@
