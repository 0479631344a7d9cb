# desc: a reader advances its cursor with a plain write instead of a CAS (races close and cuts)
replace DefaultReader.java '        if (!CURSOR.compareAndSet(this, c, next)) {' '        cursor = next;
        if (false) {'
