# desc: the single remover is decided by check-then-write on `removed` instead of a CAS
replace DefaultStream.java '    if (statusOf(tail) == S_RUNNING || !REMOVED.compareAndSet(this, 0, 1)) {
      return false;
    }' '    if (statusOf(tail) == S_RUNNING || removed != 0) {
      return false;
    }
    removed = 1;'
