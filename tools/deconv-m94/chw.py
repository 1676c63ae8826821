import sys, numpy as np
sys.path.insert(0,__import__('os').path.dirname(__file__))
from fits import read
from scipy import ndimage as nd
dec,_=read(sys.argv[1]); mean,_=read(sys.argv[2])
C,H,W=mean.shape
lm=mean.mean(0)
g=mean[1]; d=(g[:,:-1]-g[:,1:]); ngm=1.4826*np.median(np.abs(d-np.median(d)))/np.sqrt(2)
mx=nd.maximum_filter(lm,size=5)
pk=[(y,x) for y,x in np.argwhere((lm==mx)&(lm>50*ngm)) if 40<=y<H-40 and 40<=x<W-40]
sel=[(y,x) for i,(y,x) in enumerate(pk) if not any(j!=i and np.hypot(y2-y,x2-x)<=20 for j,(y2,x2) in enumerate(pk)) and lm[y,x]<25000]
yy,xx=np.mgrid[-10:11,-10:11]; rr=np.hypot(yy,xx)
for name,a in (("mean",mean),("deconv",dec)):
    for ch in range(3):
        prof=np.zeros(8); 
        for y,x in sel:
            st=a[ch,y-10:y+11,x-10:x+11]; bg=np.median(st[rr>8])
            st=st-bg; F=st[rr<=6].sum()
            for k in range(8): prof[k]+=st[(rr>=k)&(rr<k+1)].mean()/F
        prof/=len(sel)
        print(name,"RGB"[ch]," ".join("%.4f"%v for v in prof))
