# desc: the worker is interrupted after a plain check of its state, not a CAS (the interrupt can land after the source returned)
replace DefaultStream.java '    if (WORKER.compareAndSet(this, W_RUNNING, W_INTERRUPTING)) {' '    if (worker == W_RUNNING) {
      worker = W_INTERRUPTING;'
