# desc: the terminal transition is a plain write of the status, not a CAS (two terminators can both win)
replace DefaultStream.java '    } while (!TAIL.compareAndSet(this, t, t | ((long) status << STATUS_SHIFT)));' '    } while (false);
    tail = t | ((long) status << STATUS_SHIFT);'
