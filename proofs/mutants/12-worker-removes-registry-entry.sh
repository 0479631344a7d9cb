# desc: seed bug #2, pre-emptive cleanup: the worker removes the stream from the registry when its source returns
replace DefaultStream.java '      runner = null;
      MDC.remove(MDC_KEY);' '      runner = null;
      tryRemove(false);
      MDC.remove(MDC_KEY);'
