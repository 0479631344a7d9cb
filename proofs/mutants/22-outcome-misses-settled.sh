# desc: outcome() created after the end does not check `settled` (its Dekker pair with terminate dropped: never completes)
replace DefaultStream.java '      if (settled && term != null) {' '      if (false && settled && term != null) {'
