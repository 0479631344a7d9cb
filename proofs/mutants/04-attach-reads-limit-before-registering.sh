# desc: attach registers its reader after reading `limit` (the attach/producer Dekker pair reversed)
replace DefaultStream.java '    addReader(r); // first: from here on the producer'"'"'s gate checks include r
    long t = tail;' '    long t = tail;'
replace DefaultStream.java '    long firstRetained = Math.max(1, (ended ? count + 1 : limit) - mask);' '    long firstRetained = Math.max(1, (ended ? count + 1 : limit) - mask);
    addReader(r);'
